"""Benchmark service: listen on 127.0.0.1:PORT; on SIGTERM append the wall-clock time
(time.time(), comparable across processes) to STAMP_FILE and exit.

Usage: term_stamp.py PORT STAMP_FILE
"""

import signal
import socket
import sys
import time

port, stamp_file = int(sys.argv[1]), sys.argv[2]


def on_term(signum: int, frame: object) -> None:
    with open(stamp_file, "a") as out:
        out.write(f"{time.time()}\n")
    sys.exit(0)


signal.signal(signal.SIGTERM, on_term)
server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("127.0.0.1", port))
server.listen(128)
while True:
    conn, _ = server.accept()
    conn.close()
