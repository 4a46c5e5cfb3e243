"""botexcel's web API: a Flask app, served by `gunicorn api:app` (not main.py, the CLI)."""

from __future__ import annotations

import os
import sys

from audit_trail import record
from flask import Flask, Response, jsonify, request

app = Flask(__name__)


@app.after_request
def access_line(response: Response) -> Response:
    # One line per request on stdout: devstack's backend log shows each proxied call.
    print(f"{request.method} {request.path} {response.status_code}", file=sys.stdout, flush=True)
    return response


@app.get("/api/health")
def health() -> tuple[Response, int]:
    return jsonify(ok=True, status="healthy"), 200


@app.get("/api/whoami")
def whoami() -> Response:
    return jsonify(service="botexcel-backend", pid=os.getpid())


@app.post("/api/agent/context/create")
def create_context() -> tuple[Response, int]:
    auth = request.headers.get("Authorization", "")
    body = request.get_json(silent=True) or {}
    file_id = body.get("file_id") if isinstance(body, dict) else None
    payload: dict[str, object]
    if not auth.startswith("Bearer ") or not auth.removeprefix("Bearer ").strip():
        status, payload = 401, {"error": "missing Authorization: Bearer token"}
    elif not file_id:
        status, payload = 400, {"error": "file_id is required"}
    else:
        status, payload = 201, {"created": True, "file_id": str(file_id)}
    record("context.create", client_ip=request.remote_addr, status=status, file_id=file_id)
    return jsonify(payload), status
