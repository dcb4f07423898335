"""Fixtures and helpers of the request/device/key attack suites (test_attack_requests*.py):
a real SQLite file or a real PostgreSQL 15 database, one backend or two replicas on it,
and a raw till that can replay exactly the bytes it sent."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from facepay.config import ServerConfig
from facepay.server import Sandbox
from facepay.testing.postgres import TemporaryPostgres
from facepay.testing.protocol_till import ProtocolTill, face, rows

__all__ = [
    "Recorded",
    "database_url",
    "enroll_shopper",
    "json_bytes",
    "ledger_size",
    "postgres_server",
    "replay",
    "send",
    "start",
]


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    given = os.environ.get("FACEPAY_TEST_POSTGRES_DSN")
    if given:
        yield given
        return
    with TemporaryPostgres() as pg:
        yield pg.dsn


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A real, empty database: a SQLite file, then a fresh PostgreSQL database."""
    if request.param == "sqlite":
        yield str(tmp_path / "backend.db")
        return
    import psycopg

    server = str(request.getfixturevalue("postgres_server"))
    name = f"facepay_attack_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base, _, _ = server.rpartition("/")
    try:
        yield f"{base}/{name}"
    finally:
        with contextlib.suppress(Exception), psycopg.connect(server, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


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
