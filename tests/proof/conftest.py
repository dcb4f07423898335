"""Fixtures for the proof suites (faults, crashes, attacks, privacy, deletion, lockout).

PostgreSQL: one throwaway cluster per test session, made by the same
``facepay.eval._backends.throwaway_postgres`` the ``facepay bench`` commands use (it
honours ``FACEPAY_TEST_POSTGRES_DSN`` like tests/server/conftest.py). Every backend here
is real: uvicorn on 127.0.0.1, a real SQLite file or PostgreSQL database, real keys.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from proof_kit import RawTill

from facepay.config import ServerConfig
from facepay.eval._backends import create_postgres_database, throwaway_postgres
from facepay.server import Sandbox


@pytest.fixture(scope="session")
def proof_postgres() -> Iterator[str]:
    """DSN of a PostgreSQL server's maintenance database for this test session."""
    with throwaway_postgres() as dsn:
        yield dsn


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def proof_db(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """``sqlite`` or ``postgres`` (the test passes it to the proof runs)."""
    return str(request.param)


@pytest.fixture
def proof_postgres_server(proof_db: str, request: pytest.FixtureRequest) -> str | None:
    if proof_db != "postgres":
        return None
    return str(request.getfixturevalue("proof_postgres"))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A real, empty database: a SQLite file, then a PostgreSQL database."""
    if request.param == "sqlite":
        return str(tmp_path / "backend.db")
    return create_postgres_database(request.getfixturevalue("proof_postgres"))


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
