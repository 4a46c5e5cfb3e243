"""Print "chatty line N WORDS..." every 10 ms until stopped: a service whose logs grow."""

import sys
import time

words = " ".join(sys.argv[1:])
n = 0
while True:
    n += 1
    print(f"chatty line {n:06d} {words}", flush=True)
    time.sleep(0.01)
