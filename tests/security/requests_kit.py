"""Helpers of the request/device/key attack suites (test_attack_requests*.py): start a
backend or replica on a database, and a raw till that can replay exactly the bytes it
sent. The database, backend and till fixtures are in conftest.py."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from facepay.config import ServerConfig
from facepay.server import Sandbox
from facepay.testing import free_port
from facepay.testing.protocol_till import ProtocolTill, face, rows

__all__ = [
    "Recorded",
    "enroll_shopper",
    "free_port",
    "json_bytes",
    "ledger_size",
    "replay",
    "send",
    "serve",
    "start",
    "stop",
]


def serve(
    db: Path, port: int, *args: str, env: dict[str, str], stderr: int = subprocess.PIPE
) -> subprocess.Popen[bytes]:
    """``facepay sandbox serve --db DB --port PORT ARGS`` as its own process, once it
    answers ``/v1/health`` (polled; 90 s is a start bound, not a measurement)."""
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "facepay", "sandbox", "serve", "--db", str(db)),
            *("--port", str(port), *args),
        ],
        env=env,
        stderr=stderr,
    )
    deadline = time.monotonic() + 90
    while True:
        try:
            httpx.get(f"http://127.0.0.1:{port}/v1/health", timeout=1).raise_for_status()
            return proc
        except httpx.HTTPError:
            assert proc.poll() is None, "server exited"
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.2)


def stop(proc: subprocess.Popen[bytes]) -> bytes:
    """Terminate a :func:`serve` process; its stderr (empty unless piped)."""
    proc.terminate()
    _, err = proc.communicate(timeout=30)
    return err or b""


def start(db: str, tmp_path: Path, config: ServerConfig | None = None) -> Sandbox:
    """A backend (a replica, when several share ``db``) with the keys in ``tmp_path``."""
    return Sandbox(db, key_dir=tmp_path / "keys", config=config).start()


class Recorded:
    """One request exactly as it went on the wire: what a recording proxy keeps."""

    def __init__(self, method: str, path: str, body: bytes, headers: dict[str, str]) -> None:
        self.method, self.path, self.body, self.headers = method, path, body, dict(headers)


def send(
    till: ProtocolTill,
    path: str,
    payload: Any,
    *,
    headers: dict[str, str] | None = None,
    timestamp: int | None = None,
) -> tuple[httpx.Response, Recorded]:
    """Sign and send one request; return the answer and the recording of it."""
    body = json_bytes(payload)
    sent: dict[str, str] = {}

    def keep(request: httpx.Request) -> None:
        sent.update(request.headers)

    till.http.event_hooks["request"] = [keep]
    try:
        response = till.call("POST", path, body=body, headers=headers, timestamp=timestamp)
    finally:
        till.http.event_hooks["request"] = []
    return response, Recorded("POST", path, body, sent)


def replay(
    base_url: str, recorded: Recorded, *, change: dict[str, str] | None = None
) -> httpx.Response:
    """Send the recorded bytes again (optionally with some headers rewritten, as a proxy
    would), on a fresh connection."""
    headers = {**recorded.headers, **(change or {})}
    headers.pop("content-length", None)
    with httpx.Client(base_url=base_url, timeout=30.0) as http:
        return http.request(recorded.method, recorded.path, content=recorded.body, headers=headers)


def json_bytes(payload: Any) -> bytes:
    import json

    return json.dumps(payload).encode()


def ledger_size(sandbox: Sandbox) -> int:
    return len(rows(sandbox, "SELECT authorization_id FROM authorizations"))


def enroll_shopper(till: ProtocolTill, seed: int = 1) -> None:
    r = till.enroll(face(seed))
    assert r.status_code == 201, r.text
