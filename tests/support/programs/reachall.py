"""A service that, when started, connects to each 127.0.0.1 port it is given and prints
how many accepted ("reached 3 of 3"), then sleeps: started after its dependencies'
copies were healthy, it reaches every one."""

import socket
import sys
import time

ports = [int(p) for p in sys.argv[1:]]
reached = 0
for port in ports:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        reached += 1
    except OSError:
        pass
print(f"reached {reached} of {len(ports)}", flush=True)
while True:
    time.sleep(3600)
