"""Fixtures for the proof suites (faults, crashes, attacks, privacy, deletion, lockout).

PostgreSQL: the one throwaway cluster per test session of tests/conftest.py
(``postgres_server``, ``database_url``), shared with the backend and attack suites; the
proof runs create their own database on it. Every backend here is real: uvicorn on
127.0.0.1, a real SQLite file or PostgreSQL database, real keys.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from proof_kit import RawTill

from facepay.config import ServerConfig
from facepay.server import Sandbox


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def proof_db(request: pytest.FixtureRequest) -> str:
    """``sqlite`` or ``postgres`` (the test passes it to the proof runs)."""
    return str(request.param)


@pytest.fixture
def proof_postgres_server(proof_db: str, request: pytest.FixtureRequest) -> str | None:
    """The session's PostgreSQL server when ``proof_db`` is ``postgres``."""
    if proof_db != "postgres":
        return None
    return str(request.getfixturevalue("postgres_server"))


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    """The backend with its default (production) limits on a SQLite file."""
    sb = Sandbox(tmp_path / "sandbox.db", key_dir=tmp_path / "keys", config=ServerConfig()).start()
    try:
        yield sb
    finally:
        sb.stop()


@pytest.fixture
def till(sandbox: Sandbox) -> Iterator[RawTill]:
    t = RawTill(sandbox, sandbox.provision_device(tenant_id="acme"))
    try:
        yield t
    finally:
        t.close()
