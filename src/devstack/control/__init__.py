"""The control channel: devstack's commands from another terminal over a Unix socket.

    protocol.py  the wire format (one JSON object per line); the client imports it
    seam.py      ``StackControl``: what the supervisor offers the server
    server.py    asyncio server inside the supervisor (same-user only, allowlisted verbs)
    client.py    stdlib-socket client used by ``devstack ps / logs / restart ...``

Nothing is imported here: ``devstack ps`` must not pay for the asyncio server.
"""
