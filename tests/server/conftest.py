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
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from server_helpers import Till

from facepay.config import ServerConfig
from facepay.server import Sandbox

_PG_BIN_DIRS = ("/usr/lib/postgresql/15/bin", "/usr/lib/postgresql/16/bin")


def _pg_tool(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    for directory in _PG_BIN_DIRS:
        candidate = Path(directory) / name
        if candidate.exists():
            return str(candidate)
    pytest.fail(f"PostgreSQL's {name} not found (install postgresql-15: scripts/setup.sh)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_postgres(cmd: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return cmd
    runuser = shutil.which("runuser")
    if runuser:
        return [runuser, "-u", "postgres", "--", *cmd]
    return ["su", "postgres", "-s", "/bin/sh", "-c", " ".join(cmd)]


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """A DSN of a PostgreSQL server's maintenance database for this test session."""
    given = os.environ.get("FACEPAY_TEST_POSTGRES_DSN")
    if given:
        yield given
        return
    initdb, pg_ctl = _pg_tool("initdb"), _pg_tool("pg_ctl")
    root = Path(tempfile.mkdtemp(prefix="facepay-pg-"))
    data = root / "data"
    if os.geteuid() == 0:
        shutil.chown(root, user="postgres", group="postgres")
    port = _free_port()
    env = {**os.environ, "LC_ALL": "C", "LANG": "C"}
    subprocess.run(
        _as_postgres(
            [initdb, "-D", str(data), "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync"]
        ),
        check=True,
        capture_output=True,
        env=env,
    )
    options = (
        f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
    )
    subprocess.run(
        _as_postgres(
            [pg_ctl, "-D", str(data), "-l", str(root / "log"), "-o", options, "-w", "start"]
        ),
        check=True,
        capture_output=True,
        env=env,
    )
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            _as_postgres([pg_ctl, "-D", str(data), "-m", "immediate", "-w", "stop"]),
            check=False,
            capture_output=True,
            env=env,
        )
        shutil.rmtree(root, ignore_errors=True)


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
