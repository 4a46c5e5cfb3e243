"""Benchmark service: listen on 127.0.0.1:PORT after DELAY_MS, accept and close connections.

Usage: listen_after.py PORT DELAY_MS [--grandchild]
With --grandchild it first forks a child that sleeps (a process tree to stop).
"""

import os
import socket
import sys
import time

port, delay_ms = int(sys.argv[1]), int(sys.argv[2])
if "--grandchild" in sys.argv[3:] and os.fork() == 0:
    while True:
        time.sleep(3600)
time.sleep(delay_ms / 1000)
server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("127.0.0.1", port))
server.listen(128)
while True:
    conn, _ = server.accept()
    conn.close()
