"""Fixtures for the reference backend: real SQLite files and a real PostgreSQL 15.

PostgreSQL: ``FACEPAY_TEST_POSTGRES_DSN`` when set (CI may provide one); otherwise a
throwaway cluster is created with initdb in a temporary directory and started with pg_ctl
on a free 127.0.0.1 port for the test session, and removed afterwards. initdb and pg_ctl
refuse to run as root, so as root they run as the ``postgres`` user (runuser). Each test
gets its own fresh database. A missing PostgreSQL is a failure, never a skip.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from server_helpers import Till

from facepay.config import ServerConfig
from facepay.server import Sandbox
from facepay.testing.postgres import TemporaryPostgres


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """A DSN of a PostgreSQL server's maintenance database for this test session."""
    given = os.environ.get("FACEPAY_TEST_POSTGRES_DSN")
    if given:
        yield given
        return
    with TemporaryPostgres() as pg:
        yield pg.dsn


@pytest.fixture
def postgres_dsn(postgres_server: str) -> Iterator[str]:
    """A fresh, empty database on the session's PostgreSQL server, dropped afterwards."""
    import psycopg

    name = f"facepay_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_server, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base, _, _ = postgres_server.rpartition("/")
    try:
        yield f"{base}/{name}"
    finally:
        with (
            contextlib.suppress(Exception),
            psycopg.connect(postgres_server, autocommit=True) as conn,
        ):
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A real, empty database: a SQLite file, then a PostgreSQL database."""
    if request.param == "sqlite":
        return str(tmp_path / "backend.db")
    return str(request.getfixturevalue("postgres_dsn"))


def _start(db: str | None, tmp_path: Path, config: ServerConfig | None) -> Sandbox:
    key_dir = tmp_path / "keys" if db is not None else None
    return Sandbox(db, key_dir=key_dir, config=config).start()


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    """The backend on SQLite in a temporary directory, on a free loopback port."""
    sb = _start(str(tmp_path / "sandbox.db"), tmp_path, None)
    try:
        yield sb
    finally:
        sb.stop()


@pytest.fixture
def any_sandbox(database_url: str, tmp_path: Path) -> Iterator[Sandbox]:
    """The backend on SQLite, then on PostgreSQL."""
    sb = _start(database_url, tmp_path, None)
    try:
        yield sb
    finally:
        sb.stop()


@pytest.fixture
def till(sandbox: Sandbox) -> Iterator[Till]:
    t = Till(sandbox, sandbox.provision_device(tenant_id="acme"))
    try:
        yield t
    finally:
        t.close()
