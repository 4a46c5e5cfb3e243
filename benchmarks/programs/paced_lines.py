"""Wait for GO_FILE to exist, then print N numbered lines ("P000001 stdout xxx...") at
RATE lines per second (0: as fast as the pipe takes them), in writes of 1,000 lines."""

import os
import sys
import time

go, n, prefix, rate = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4])
BATCH = 1000
while not os.path.exists(go):
    time.sleep(0.01)
t0 = time.perf_counter()
for start in range(1, n + 1, BATCH):
    stop = min(start + BATCH, n + 1)
    data = "".join(
        f"{prefix}{i:06d} stdout xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n" for i in range(start, stop)
    )
    view = memoryview(data.encode())
    while view:
        view = view[os.write(1, view) :]
    if rate:
        ahead = t0 + (stop - 1) / rate - time.perf_counter()
        if ahead > 0:
            time.sleep(ahead)
time.sleep(3600)  # stays up: the stack keeps running for the next measurement
