"""Fixtures for the reference backend: real SQLite files and, through ``database_url``
(tests/conftest.py), a real PostgreSQL 15."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from server_helpers import Till

from facepay.config import ServerConfig
from facepay.server import Sandbox


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
