"""Fixtures shared by every attack suite in this folder (test_attack_requests*.py and
test_attack_shoppers*.py): a real, empty database on SQLite and then on PostgreSQL 15, a
backend on it, and a till provisioned on that backend.

PostgreSQL: ``FACEPAY_TEST_POSTGRES_DSN`` when set; otherwise one throwaway cluster
(``facepay.testing.postgres.TemporaryPostgres``) for the test session. Each test gets its
own fresh database, dropped afterwards. A missing PostgreSQL is a failure, never a skip.
Helpers that are not fixtures live in requests_kit.py and shoppers_kit.py."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from requests_kit import start
from shoppers_kit import Backends

from facepay.server import Sandbox
from facepay.testing.postgres import TemporaryPostgres
from facepay.testing.protocol_till import ProtocolTill


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

    name = f"facepay_attack_{uuid.uuid4().hex[:12]}"
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
    """A real, empty database: a SQLite file, then a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return str(tmp_path / "backend.db")
    return str(request.getfixturevalue("postgres_dsn"))


@pytest.fixture
def backend(database_url: str, tmp_path: Path) -> Iterator[Sandbox]:
    """One backend with default limits on ``database_url``, keys in ``tmp_path``."""
    sandbox = start(database_url, tmp_path)
    try:
        yield sandbox
    finally:
        sandbox.stop()


@pytest.fixture
def till(backend: Sandbox) -> Iterator[ProtocolTill]:
    """A raw till of tenant ``acme`` on ``backend``."""
    t = ProtocolTill(backend, backend.provision_device(tenant_id="acme"))
    try:
        yield t
    finally:
        t.close()


@pytest.fixture
def backends(database_url: str, tmp_path: Path) -> Iterator[Backends]:
    """Backends (workers or replicas) started on demand on ``database_url``."""
    b = Backends(database_url, tmp_path / "keys")
    try:
        yield b
    finally:
        b.close()
