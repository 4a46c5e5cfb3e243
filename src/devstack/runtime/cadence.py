"""Whether a healthy service's tick sends its http request or only connects (pure).

Once healthy, every http probe lands in the service's access log (and in a proxying
frontend's too). With ``http_every`` set (``health.interval`` not written), a tick
sends the request only when ``http_every`` has passed since the last one, or while
the probe is failing; the other ticks open a TCP connection to the probed port and
close it, which servers do not log. A crash is seen at once anyway (the supervisor
waits on the process), and a closed port at the next tick.
"""

from __future__ import annotations


def full_probe_due(
    now: float, last_full: float, *, interval: float, http_every: float | None, failing: bool
) -> bool:
    """True when this tick runs the probe itself, False when a TCP connect will do.

    Ticks fall on a grid of ``interval``; half an interval of slack keeps a tick that
    wakes a hair early from waiting a whole extra interval.
    """
    if http_every is None or failing:
        return True
    return now - last_full >= http_every - interval / 2
